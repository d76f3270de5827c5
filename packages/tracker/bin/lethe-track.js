#!/usr/bin/env node
import "../dist/cli/lethe-track.js";
