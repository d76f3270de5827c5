#!/usr/bin/env node
import "../dist/cli/lethe-merge.js";
