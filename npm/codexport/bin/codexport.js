#!/usr/bin/env node
// codexport's npm launcher: finds the native binary in the platform package npm installed
// beside this one (an optionalDependency whose `os`/`cpu` match this machine), runs it with
// this process's arguments and stdio, relays SIGINT/SIGTERM/SIGHUP to it, and exits the way
// it exited (its code, or the same signal). The pattern of @openai/codex, esbuild and biome.
//
// Built by scripts/npm-pack.sh from npm/codexport/bin/codexport.js; see npm/README.md.
"use strict";

const { spawn } = require("child_process");
const path = require("path");

// `${process.platform}-${process.arch}` -> the package holding the binary, and its Rust target.
const PLATFORMS = {
  "linux-x64": { pkg: "@codexport/linux-x64", exe: "codexport", target: "x86_64-unknown-linux-gnu" },
  "linux-arm64": { pkg: "@codexport/linux-arm64", exe: "codexport", target: "aarch64-unknown-linux-gnu" },
  "darwin-x64": { pkg: "@codexport/darwin-x64", exe: "codexport", target: "x86_64-apple-darwin" },
  "darwin-arm64": { pkg: "@codexport/darwin-arm64", exe: "codexport", target: "aarch64-apple-darwin" },
  "win32-x64": { pkg: "@codexport/win32-x64", exe: "codexport.exe", target: "x86_64-pc-windows-msvc" },
};

function fail(lines) {
  process.stderr.write(lines.map((l) => `codexport: ${l}\n`).join(""));
  process.exit(1);
}

const key = `${process.platform}-${process.arch}`;
const platform = PLATFORMS[key];
if (!platform) {
  fail([
    `no prebuilt binary for this platform (${key}).`,
    `npm packages exist for: ${Object.keys(PLATFORMS).join(", ")}.`,
    "build it from source instead: cargo install --locked codexport",
  ]);
}

let binary;
try {
  const manifest = require.resolve(`${platform.pkg}/package.json`);
  binary = path.join(path.dirname(manifest), "bin", platform.exe);
} catch (err) {
  if (err && err.code !== "MODULE_NOT_FOUND") throw err;
  fail([
    `the package ${platform.pkg}, which holds the binary for ${key}, is not installed.`,
    "npm skips it when optional dependencies are left out (--no-optional, --omit=optional,",
    "or a lockfile made on another platform). Fix it with one of:",
    `  npm install ${platform.pkg}`,
    "  reinstall codexport without --no-optional / --omit=optional",
    "  cargo install --locked codexport",
  ]);
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });

// A signal sent to this process alone (kill PID, a service manager, `timeout`) reaches the
// binary too; Ctrl-C reaches both anyway (same process group) and the binary decides.
const relayed = ["SIGINT", "SIGTERM", "SIGHUP"];
const relay = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of relayed) process.on(signal, relay);

child.on("error", (err) => {
  if (err.code === "ENOENT") {
    fail([
      `${binary} is missing: the package ${platform.pkg} is incomplete.`,
      `reinstall it (npm install ${platform.pkg}) or use: cargo install --locked codexport`,
    ]);
  }
  fail([`could not run ${binary}: ${err.message}`]);
});

child.on("exit", (code, signal) => {
  for (const s of relayed) process.removeListener(s, relay);
  if (signal) {
    // Die of the same signal, so a parent sees what the binary saw.
    process.kill(process.pid, signal);
    // A signal that does not end node (none of the relayed ones): the shell convention.
    setTimeout(() => process.exit(128 + (require("os").constants.signals[signal] || 0)), 1000);
    return;
  }
  process.exit(code === null ? 1 : code);
});
