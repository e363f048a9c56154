/**
 * Entry point of the built CLI. Parses, runs, and owns the one top-level error handler that maps
 * errors to a message (or a JSON error document) and a documented exit code.
 */
import { CommanderError, type Command } from "commander";
import { buildProgram } from "./program.js";
import { Output } from "./output.js";
import { ExitCode, UsageError } from "../core/errors.js";

// A reader that went away (`dat … | head`) is not an error: stop quietly, as other CLIs do.
// Node ignores SIGPIPE, so the closed pipe arrives as an EPIPE 'error' on the stream instead.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(ExitCode.ok);
    throw error;
  });
}

async function main(argv: string[]): Promise<number> {
  const wantsJson = argv.includes("--json");
  const out = new Output({ json: wantsJson, quiet: argv.includes("--quiet") || argv.includes("-q") });
  const program = buildProgram();
  // Commander reports usage errors itself; we take over so --json gets a JSON error document.
  for (const command of [program, ...allCommands(program)]) {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => { if (!wantsJson) write(text); } });
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") {
        return ExitCode.ok;
      }
      if (!wantsJson) return ExitCode.usage;
      return out.error(new UsageError(error.message.replace(/^error: /, ""), { code: "USAGE", hint: "Run with --help for usage." }));
    }
    return out.error(error);
  }
}

function allCommands(root: Command): Command[] {
  const found: Command[] = [];
  const walk = (c: Command) => { for (const s of c.commands) { found.push(s); walk(s); } };
  walk(root);
  return found;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Long-lived handles (a chain provider, an HTTP agent) must not keep a finished command alive.
    if (!process.env.DAT_NO_FORCE_EXIT) setImmediate(() => process.exit(code));
  },
  (error) => {
    process.stderr.write(`internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(ExitCode.internal);
  },
);
