// Compile contracts/src/*.sol with the pinned solc-js into concilium/artifacts/<Contract>.json.
// `--check` exits 1 when the committed artifacts differ from what the sources compile to.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
// our contracts, test-only consumers, and the example consumers
const srcDirs = ["contracts/src", "contracts/testing", "examples/contracts"];
const outDir = path.join(root, "concilium", "artifacts");
const check = process.argv.includes("--check");

const sources = {};
for (const dir of srcDirs) {
  for (const f of fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    sources[`${dir}/${f}`] = { content: fs.readFileSync(path.join(root, dir, f), "utf8") };
  }
}
function findImports(p) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const full = path.join(base, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  }
  return { error: `not found: ${p}` };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
for (const e of out.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let stale = [];
fs.mkdirSync(outDir, { recursive: true });
for (const [file, contracts] of Object.entries(out.contracts)) {
  if (!srcDirs.some((d) => file.startsWith(d + "/"))) continue;
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // abstract contracts and interfaces
    const artifact = {
      contractName: name,
      sourceName: file,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
    const text = JSON.stringify(artifact, null, 1) + "\n";
    const target = path.join(outDir, `${name}.json`);
    if (check) {
      if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) stale.push(name);
    } else {
      fs.writeFileSync(target, text);
      console.log(`compiled ${name} -> ${path.relative(root, target)}`);
    }
  }
}
// Audited contracts from npm, deployed as published (their bytecode, not ours): copied so that the
// Python package needs no node_modules at run time; `--check` proves the copies are npm's.
const safePkg = "@safe-global/safe-contracts";
const safeVersion = require(path.join(root, "node_modules", safePkg, "package.json")).version;
for (const rel of [
  "SafeL2.sol/SafeL2",
  "proxies/SafeProxyFactory.sol/SafeProxyFactory",
  "handler/TokenCallbackHandler.sol/TokenCallbackHandler",
  "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler",
  "libraries/MultiSendCallOnly.sol/MultiSendCallOnly",
]) {
  const a = JSON.parse(fs.readFileSync(path.join(root, "node_modules", safePkg, "build/artifacts/contracts", rel + ".json"), "utf8"));
  const artifact = {
    contractName: a.contractName,
    sourceName: `${safePkg}@${safeVersion}/${a.sourceName}`,
    compiler: "as published on npm",
    abi: a.abi,
    bytecode: a.bytecode,
    deployedBytecode: a.deployedBytecode,
  };
  const text = JSON.stringify(artifact, null, 1) + "\n";
  const target = path.join(outDir, `${a.contractName}.json`);
  if (check) {
    if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) stale.push(a.contractName);
  } else {
    fs.writeFileSync(target, text);
    console.log(`copied ${safePkg}@${safeVersion} ${a.contractName} -> ${path.relative(root, target)}`);
  }
}
if (check && stale.length) {
  console.error(`stale artifacts: ${stale.join(", ")}; run \`make contracts\` and commit concilium/artifacts`);
  process.exit(1);
}
if (check) console.log("artifacts are up to date");
