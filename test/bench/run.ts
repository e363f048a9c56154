/**
 * Benchmark dispatcher: `npm run bench -- <name> [args]` imports ./<name>.ts and runs its default
 * export with the remaining arguments. Without a name it lists the benchmarks.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return fs
    .readdirSync(here)
    .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.endsWith(".test.ts"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  const names = available();
  if (!name || name === "--help" || name === "-h") {
    console.log("usage: npm run bench -- <name> [args]\n\nbenchmarks:\n" + names.map((n) => `  ${n}`).join("\n"));
    return name ? 0 : 2;
  }
  if (!names.includes(name)) {
    console.error(`unknown benchmark "${name}"; available: ${names.join(", ")}`);
    return 2;
  }
  const mod = (await import(pathToFileURL(path.join(here, `${name}.ts`)).href)) as { default?: (args: string[]) => Promise<void> };
  if (typeof mod.default !== "function") {
    console.error(`test/bench/${name}.ts has no default export run(args)`);
    return 2;
  }
  await mod.default(args);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
