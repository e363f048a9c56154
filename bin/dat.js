#!/usr/bin/env node
// Launcher only: everything lives in the built CLI (npm install runs the build through `prepare`).
import "../dist/cli/main.js";
