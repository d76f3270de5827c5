#!/usr/bin/env node
import "../dist/cli/lethe-train.js";
