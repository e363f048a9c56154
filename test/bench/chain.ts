/**
 * Gas of paying contributors: one publishRound per round (a Merkle root, whatever the number of
 * contributors) plus one claim per contributor, next to one ERC-20 transfer per contributor; and
 * of staking: stake, requestUnstake, withdraw, and publishRound slashing 0, 1 and 10 stakers.
 * Runs on an in-process Hardhat Network devnet; figures are gas units, medians where repeated.
 *
 *   npm run bench -- chain [--sizes 10,100,1000] [--claims 5]
 */
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { Address, Hex } from "viem";
import { startDevnet } from "../../src/chain/devnet.js";
import { connectChain } from "../../src/chain/clients.js";
import { deployContracts, mined } from "../../src/chain/deploy.js";
import { buildRewardTree, loadRewardTree } from "../../src/chain/tree.js";
import { DatToken, RewardDistributor, Staking } from "../../src/chain/artifacts/index.js";
import { sortSlashes } from "../../src/chain/settle.js";
import { splitRewards } from "../../src/core/rewards/index.js";
import { option } from "./stats.js";

function median(values: bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor(sorted.length / 2)];
}

export default async function run(args: string[]): Promise<void> {
  const sizes = option(args, "--sizes", "10,100,1000").split(",").map(Number);
  const claimsPerSize = Number(option(args, "--claims", "9"));
  const devnet = await startDevnet({ port: 0, accounts: 1 });
  try {
    const operatorAccount = privateKeyToAccount(devnet.accounts[0]);
    const { publicClient, walletClient } = await connectChain({ rpcUrl: devnet.url, account: operatorAccount });
    const wallet = walletClient!;
    const contracts = await deployContracts(wallet, publicClient, {
      mint: [{ to: operatorAccount.address, amount: 10n ** 30n }],
    });
    const send = async (hash: Hex) => (await mined(publicClient, hash, "bench tx")).gasUsed;
    await send(await wallet.writeContract({ address: contracts.token, abi: DatToken.abi, functionName: "approve", args: [contracts.distributor, 10n ** 29n] }));
    await send(await wallet.writeContract({ address: contracts.distributor, abi: RewardDistributor.abi, functionName: "fund", args: [1n, 10n ** 29n] }));

    const rows: { n: number; publish: bigint; claimNew: bigint; claimWorst: bigint; claimHolder: bigint; merkleTotal: bigint; transfers: bigint; transferEach: bigint }[] = [];
    for (const [roundIndex, n] of sizes.entries()) {
      const keys = Array.from({ length: n }, () => generatePrivateKey());
      const addresses = keys.map((k) => privateKeyToAccount(k).address);
      const shares = splitRewards(BigInt(n) * 10n ** 18n, addresses.map((address, i) => ({ address, score: 1 + (i % 7) })));
      const tree = buildRewardTree(shares);
      const publish = await send(await wallet.writeContract({
        address: contracts.distributor, abi: RewardDistributor.abi, functionName: "publishRound",
        args: [1n, BigInt(roundIndex), "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", tree.root, shares.reduce((a, s) => a + s.amount, 0n), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", []],
      }));
      const loaded = loadRewardTree(tree.bytes, tree.root);
      const claimGas: bigint[] = [];
      const holderGas: bigint[] = [];
      // Contributors claim in leaf order here, so the sample shows both the first claimer of a bitmap
      // word (a fresh slot) and the ones after it; the median is the typical claim.
      const keyOf = new Map(keys.map((k) => [privateKeyToAccount(k).address.toLowerCase(), k]));
      for (let i = 0; i < Math.min(claimsPerSize, n); i += 1) {
        const account = privateKeyToAccount(keyOf.get(loaded.entries[i].address)!);
        await devnet.request({ method: "hardhat_setBalance", params: [account.address, "0xde0b6b3a7640000"] });
        const claimer = (await connectChain({ rpcUrl: devnet.url, account })).walletClient!;
        const leaf = loaded.find(account.address)!;
        claimGas.push(await send(await claimer.writeContract({
          address: contracts.distributor, abi: RewardDistributor.abi, functionName: "claim", args: [1n, BigInt(roundIndex), BigInt(leaf.index), leaf.amount, leaf.proof],
        })));
        // Same address, a second round of the same job: a holder already has a balance and a bitmap word.
        const again = buildRewardTree(shares);
        if (i === 0) {
          await send(await wallet.writeContract({
            address: contracts.distributor, abi: RewardDistributor.abi, functionName: "publishRound",
            args: [1n, BigInt(1000 + roundIndex), "m", again.root, shares.reduce((a, s) => a + s.amount, 0n), "t", []],
          }));
        }
        if (i === 0) {
          holderGas.push(await send(await claimer.writeContract({
            address: contracts.distributor, abi: RewardDistributor.abi, functionName: "claim", args: [1n, BigInt(1000 + roundIndex), BigInt(leaf.index), leaf.amount, leaf.proof],
          })));
        }
      }
      // The alternative: the operator pays every contributor directly, one ERC-20 transfer each.
      let transfers = 0n;
      const fresh: Address[] = Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()).address);
      const hashes: Hex[] = [];
      for (const [i, to] of fresh.entries()) {
        hashes.push(await wallet.writeContract({ address: contracts.token, abi: DatToken.abi, functionName: "transfer", args: [to, shares[i].amount] }));
      }
      for (const hash of hashes) transfers += (await publicClient.waitForTransactionReceipt({ hash })).gasUsed;
      const claimNew = median(claimGas);
      rows.push({ n, publish, claimNew, claimWorst: claimGas.reduce((a, b) => (a > b ? a : b)), claimHolder: median(holderGas), merkleTotal: publish + claimNew * BigInt(n), transfers, transferEach: transfers / BigInt(n) });
    }

    const staking = await stakingGas(devnet, contracts, wallet, send);

    const pad = (v: unknown, w: number) => String(v).padStart(w);
    console.log(["contributors", "publish gas", "claim (median)", "claim (first in word)", "claim (holder, new word)", "publish+n claims", "n transfers", "per transfer"].map((h, i) => pad(h, i === 0 ? 12 : 22)).join(" "));
    for (const r of rows) {
      console.log([pad(r.n, 12), pad(r.publish, 22), pad(r.claimNew, 22), pad(r.claimWorst, 22), pad(r.claimHolder, 22), pad(r.merkleTotal, 22), pad(r.transfers, 22), pad(r.transferEach, 22)].join(" "));
    }
    const operatorRatio = rows.map((r) => Number(r.transfers) / Number(r.publish));
    console.log(`Operator gas per round, transfers ÷ one publish: ${operatorRatio.map((x, i) => `${rows[i].n}: ${x.toFixed(1)}×`).join(", ")}`);
    console.log("");
    console.log(["staking", "gas"].map((h, i) => pad(h, i === 0 ? 34 : 12)).join(" "));
    for (const [name, gas] of Object.entries(staking)) console.log([pad(name, 34), pad(gas, 12)].join(" "));
    console.log(JSON.stringify({
      bench: "chain",
      stakingGas: Object.fromEntries(Object.entries(staking).map(([k, v]) => [k, Number(v)])),
      publishGas: Object.fromEntries(rows.map((r) => [r.n, Number(r.publish)])),
      claimGasMedian: Object.fromEntries(rows.map((r) => [r.n, Number(r.claimNew)])),
      claimGasFirstInWord: Object.fromEntries(rows.map((r) => [r.n, Number(r.claimWorst)])),
      claimGasHolder: Object.fromEntries(rows.map((r) => [r.n, Number(r.claimHolder)])),
      transferGasTotal: Object.fromEntries(rows.map((r) => [r.n, Number(r.transfers)])),
      transferGasEach: Object.fromEntries(rows.map((r) => [r.n, Number(r.transferEach)])),
      operatorGasRatio: Object.fromEntries(rows.map((r, i) => [r.n, Number(operatorRatio[i].toFixed(2))])),
      targets: { publish: 150000, claim: 90000 },
    }));
  } finally {
    await devnet.stop();
  }
}

type Send = (hash: Hex) => Promise<bigint>;

/**
 * Gas of the staking path on job 2: stake (first and top-up), requestUnstake, withdraw after the
 * cooldown, and a publication (same CIDs and a root as above) slashing 0, 1 and 10 stakers, each
 * slashed address holding a stake.
 */
async function stakingGas(
  devnet: Awaited<ReturnType<typeof startDevnet>>,
  contracts: Awaited<ReturnType<typeof deployContracts>>,
  wallet: NonNullable<Awaited<ReturnType<typeof connectChain>>["walletClient"]>,
  send: Send,
): Promise<Record<string, bigint>> {
  const gas: Record<string, bigint> = {};
  await send(await wallet.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "setJobMinStake", args: [2n, 10n ** 18n] }));
  await send(await wallet.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "setJobCooldown", args: [2n, 60n] }));
  const stakers = Array.from({ length: 12 }, () => privateKeyToAccount(generatePrivateKey()));
  for (const [i, account] of stakers.entries()) {
    await devnet.request({ method: "hardhat_setBalance", params: [account.address, "0xde0b6b3a7640000"] });
    await send(await wallet.writeContract({ address: contracts.token, abi: DatToken.abi, functionName: "transfer", args: [account.address, 10n ** 20n] }));
    const staker = (await connectChain({ rpcUrl: devnet.url, account })).walletClient!;
    await send(await staker.writeContract({ address: contracts.token, abi: DatToken.abi, functionName: "approve", args: [contracts.staking, 10n ** 20n] }));
    const first = await send(await staker.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "stake", args: [2n, 5n * 10n ** 18n] }));
    if (i === 0) {
      gas["stake (first)"] = first;
      // A later block, so the history gets a new checkpoint rather than overwriting this one.
      gas["stake (top-up)"] = await send(await staker.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "stake", args: [2n, 10n ** 18n] }));
      gas.requestUnstake = await send(await staker.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "requestUnstake", args: [2n] }));
      await devnet.request({ method: "evm_increaseTime", params: [61] });
      gas.withdraw = await send(await staker.writeContract({ address: contracts.staking, abi: Staking.abi, functionName: "withdraw", args: [2n] }));
    }
  }
  const publish = async (round: bigint, slashed: Address[]) => send(await wallet.writeContract({
    address: contracts.distributor, abi: RewardDistributor.abi, functionName: "publishRound",
    args: [2n, round, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", `0x${"ab".repeat(32)}`, 0n,
      "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", slashed],
  }));
  gas["publish, 0 slashes"] = await publish(0n, []);
  gas["publish, 1 slash"] = await publish(1n, sortSlashes([stakers[1].address]));
  gas["publish, 10 slashes"] = await publish(2n, sortSlashes(stakers.slice(2, 12).map((a) => a.address)));
  return gas;
}
