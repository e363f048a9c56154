import type { CliContext } from "./context.js";

/**
 * Ctrl-C (or SIGTERM) asks for a clean stop after the current `unit` of work; a second one exits at
 * once (130). `dispose` removes the handlers.
 */
export function stopOnInterrupt(ctx: CliContext, unit: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    ctx.out.warn(`stopping after the current ${unit} (Ctrl-C again to quit now)…`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
