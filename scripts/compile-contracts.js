// Build concilium/artifacts/<Contract>.json, the ABI + bytecode the Python package deploys:
//  - ours: contracts/src, contracts/testing, examples/contracts, compiled with the pinned solc-js;
//  - Morpho Blue (npm @morpho-org/morpho-blue ships source only): compiled with solc-js 0.8.19 and
//    the settings of Morpho's own foundry.toml (via-IR, 999999 runs, paris, no metadata hash);
//  - audited builds published on npm (WETH9, Uniswap v2/v3, Safe 1.4.1): copied byte for byte, never
//    recompiled (Uniswap's pair/pool init-code hashes only match the published bytecode).
// `--check` exits 1 when the committed artifacts differ from what the sources and packages give.
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = path.resolve(__dirname, "..");
const nodeModules = path.join(root, "node_modules");
// our contracts, test-only consumers, and the example consumers
const srcDirs = ["contracts/src", "contracts/testing", "examples/contracts"];
const outDir = path.join(root, "concilium", "artifacts");
const check = process.argv.includes("--check");

// name -> [npm package, file inside it]: the published builds we deploy (the DeFi devnet, committees' Safe)
const published = {
  WETH9: ["canonical-weth", "build/contracts/WETH9.json"],
  UniswapV2Factory: ["@uniswap/v2-core", "build/UniswapV2Factory.json"],
  UniswapV2Pair: ["@uniswap/v2-core", "build/UniswapV2Pair.json"],
  UniswapV2Router02: ["@uniswap/v2-periphery", "build/UniswapV2Router02.json"],
  UniswapV3Factory: ["@uniswap/v3-core", "artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"],
  UniswapV3Pool: ["@uniswap/v3-core", "artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"],
  SwapRouter: ["@uniswap/v3-periphery", "artifacts/contracts/SwapRouter.sol/SwapRouter.json"],
  QuoterV2: ["@uniswap/v3-periphery", "artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"],
  NonfungiblePositionManager: ["@uniswap/v3-periphery", "artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"],
  NonfungibleTokenPositionDescriptor: ["@uniswap/v3-periphery", "artifacts/contracts/NonfungibleTokenPositionDescriptor.sol/NonfungibleTokenPositionDescriptor.json"],
  NFTDescriptor: ["@uniswap/v3-periphery", "artifacts/contracts/libraries/NFTDescriptor.sol/NFTDescriptor.json"],
  SafeL2: ["@safe-global/safe-contracts", "build/artifacts/contracts/SafeL2.sol/SafeL2.json"],
  SafeProxyFactory: ["@safe-global/safe-contracts", "build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json"],
  TokenCallbackHandler: ["@safe-global/safe-contracts", "build/artifacts/contracts/handler/TokenCallbackHandler.sol/TokenCallbackHandler.json"],
  CompatibilityFallbackHandler: ["@safe-global/safe-contracts", "build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"],
  MultiSendCallOnly: ["@safe-global/safe-contracts", "build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json"],
};
const morpho = {
  package: "@morpho-org/morpho-blue",
  files: ["src/Morpho.sol", "src/mocks/IrmMock.sol", "src/mocks/OracleMock.sol"],
  contracts: ["Morpho", "IrmMock", "OracleMock"],
  settings: { viaIR: true, optimizer: { enabled: true, runs: 999999 }, evmVersion: "paris", metadata: { bytecodeHash: "none" } },
};

function findImports(p) {
  for (const base of [root, nodeModules]) {
    const full = path.join(base, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  }
  return { error: `not found: ${p}` };
}

function compile(compiler, sources, settings) {
  const input = {
    language: "Solidity",
    sources,
    settings: { ...settings, outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } } },
  };
  const out = JSON.parse(compiler.compile(JSON.stringify(input), { import: findImports }));
  for (const e of out.errors || []) console.error(e.formattedMessage);
  if ((out.errors || []).some((e) => e.severity === "error")) process.exit(1);
  return out.contracts;
}

const artifacts = {}; // name -> text
function add(name, artifact) {
  artifacts[name] = JSON.stringify(artifact, null, 1) + "\n";
}

const ours = {};
for (const dir of srcDirs) {
  for (const f of fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith(".sol")).sort()) {
    ours[`${dir}/${f}`] = { content: fs.readFileSync(path.join(root, dir, f), "utf8") };
  }
}
for (const [file, contracts] of Object.entries(compile(solc, ours, { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun" }))) {
  if (!srcDirs.some((d) => file.startsWith(d + "/"))) continue;
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // abstract contracts and interfaces
    add(name, {
      contractName: name,
      sourceName: file,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    });
  }
}

const solc0819 = require("solc-0.8.19");
const morphoVersion = require(path.join(nodeModules, morpho.package, "package.json")).version;
const morphoSources = {};
for (const f of morpho.files) {
  morphoSources[`${morpho.package}/${f}`] = { content: fs.readFileSync(path.join(nodeModules, morpho.package, f), "utf8") };
}
for (const [file, contracts] of Object.entries(compile(solc0819, morphoSources, morpho.settings))) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!morpho.contracts.includes(name)) continue;
    add(name, {
      contractName: name,
      sourceName: file,
      source: `npm ${morpho.package}@${morphoVersion}`,
      compiler: `solc-js ${solc0819.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    });
  }
}

// Audited contracts from npm, deployed as published (their bytecode, not ours): copied so that the
// Python package needs no node_modules at run time; `--check` proves the copies are npm's.
const hex = (b) => (b.startsWith("0x") ? b : "0x" + b);
for (const [name, [pkg, file]] of Object.entries(published)) {
  const a = JSON.parse(fs.readFileSync(path.join(nodeModules, pkg, file), "utf8"));
  const version = require(path.join(nodeModules, pkg, "package.json")).version;
  const artifact = {
    contractName: a.contractName || name,
    sourceName: `${pkg}@${version}/${a.sourceName || file}`,
    compiler: "as published on npm",
    abi: a.abi,
    bytecode: hex(a.bytecode || a.evm.bytecode.object),
    deployedBytecode: hex(a.deployedBytecode || a.evm.deployedBytecode.object),
  };
  if (a.linkReferences && Object.keys(a.linkReferences).length) artifact.linkReferences = a.linkReferences;
  add(name, artifact);
}

const stale = [];
fs.mkdirSync(outDir, { recursive: true });
for (const [name, text] of Object.entries(artifacts)) {
  const target = path.join(outDir, `${name}.json`);
  if (check) {
    if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) stale.push(name);
  } else {
    fs.writeFileSync(target, text);
    console.log(`wrote ${name} -> ${path.relative(root, target)}`);
  }
}
const extra = fs.readdirSync(outDir).filter((f) => f.endsWith(".json") && !(f.slice(0, -5) in artifacts));
if (check && (stale.length || extra.length)) {
  if (stale.length) console.error(`stale artifacts: ${stale.join(", ")}`);
  if (extra.length) console.error(`artifacts with no source: ${extra.join(", ")}`);
  console.error("run `make contracts` and commit concilium/artifacts");
  process.exit(1);
}
if (check) console.log("artifacts are up to date");
