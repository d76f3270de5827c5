#!/usr/bin/env node
import "../dist/cli/lethe-ckpt.js";
