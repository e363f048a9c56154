/** The demo's claims: each contributor claims its rewards with its Merkle proofs, from its own wallet. */
import type { DemoClaim } from "./types.js";
import type { DemoEmit, DemoHooks } from "./hooks.js";
import type { DemoNetwork } from "./network.js";

/** Every contributor claims what the published rounds paid it. */
export async function claimDemoRewards(net: DemoNetwork, hooks: DemoHooks, emit: DemoEmit): Promise<DemoClaim[]> {
  const { connectChain } = await import("../chain/clients.js");
  const { contributors, launched, orchestrator, jobId, demoContributors } = net;
  // --- claims --------------------------------------------------------------------------------
  emit("claims", {});
  const { claimRewards } = await import("../chain/rewards.js");
  const claims: DemoClaim[] = [];
  for (const [i, p] of contributors.entries()) {
    const conn = await connectChain({ rpcUrl: launched.url, account: p.account });
    const claimed = await claimRewards({
      publicClient: conn.publicClient,
      walletClient: conn.walletClient!,
      distributor: launched.contracts.distributor,
      fromBlock: launched.contracts.blockNumber,
      store: orchestrator.store,
      jobId,
    });
    const claim: DemoClaim = {
      contributor: demoContributors[i].name,
      address: p.account.address,
      claimed: claimed.total.toString(),
      txHashes: claimed.txHashes,
      balance: claimed.balance.toString(),
    };
    claims.push(claim);
    hooks.claim?.(claim);
  }

  return claims;
}
