#!/usr/bin/env node
import "../dist/cli/lethe-data.js";
