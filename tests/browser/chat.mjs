// Runs page.ts in headless Chromium against the gateway at $GIGMESH_GATEWAY with the users
// of $BUYER_TOKEN and $SELLER_TOKEN and the gig $GIG_ID; prints the flow's result as JSON
// on stdout and exits 0, or prints why it failed and exits 1. The page is served from its
// own origin on 127.0.0.1, so every call is a cross-origin grpc-web call.

import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const gateway = process.env.GIGMESH_GATEWAY;
const config = {
  buyerToken: process.env.BUYER_TOKEN,
  sellerToken: process.env.SELLER_TOKEN,
  gigId: process.env.GIG_ID,
};

execFileSync("buf", ["generate", "../../proto", "--template", "buf.gen.yaml"], { cwd: here });
const bundle = await build({
  entryPoints: [`${here}/page.ts`],
  bundle: true,
  write: false,
  format: "esm",
  target: "es2022",
  define: { GATEWAY: JSON.stringify(gateway) },
});
const script = bundle.outputFiles[0].text;

const server = createServer((request, response) => {
  if (request.url === "/page.js") {
    response.writeHead(200, { "content-type": "text/javascript" });
    response.end(script);
  } else {
    response.writeHead(200, { "content-type": "text/html" });
    response.end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
  }
});
await new Promise((listening) => server.listen(0, "127.0.0.1", listening));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
let exitCode = 0;
try {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (message) => logs.push(message.text()));
  page.on("pageerror", (error) => logs.push(String(error)));
  await page.goto(origin);
  await page.waitForFunction(() => "runChatFlow" in window, null, { timeout: 10_000 });
  try {
    const result = await page.evaluate((config) => window.runChatFlow(config), config);
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (error) {
    process.stderr.write(`the flow failed in the browser: ${error}\n${logs.join("\n")}\n`);
    exitCode = 1;
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(exitCode);
