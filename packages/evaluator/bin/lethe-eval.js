#!/usr/bin/env node
import "../dist/cli/lethe-eval.js";
