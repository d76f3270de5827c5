#!/usr/bin/env node
import "../dist/cli/lethe-model.js";
