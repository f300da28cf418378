// Drive node-soap against the emulator: load each WSDL the emulator serves, call each
// operation with the arguments given, and print one JSON line per call with what came back.
// Usage: node call_every.js calls.json   (a list of {wsdl, operation, args})
"use strict";
const fs = require("fs");
const soap = require("soap");

async function main() {
  const calls = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const clients = new Map();
  for (const call of calls) {
    let client = clients.get(call.wsdl);
    if (!client) {
      client = await soap.createClientAsync(call.wsdl);
      clients.set(call.wsdl, client);
    }
    const out = { wsdl: call.wsdl, operation: call.operation };
    try {
      const [result, rawResponse] = await client[call.operation + "Async"](call.args);
      out.ok = true;
      out.result = result;
      out.raw = rawResponse;
      out.endpoint = client.getEndpoint ? undefined : undefined;
      out.lastEndpoint = client.lastEndpoint;
    } catch (err) {
      out.ok = false;
      out.error = String(err && err.message ? err.message : err);
      out.body = err && err.body ? String(err.body).slice(0, 2000) : undefined;
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(2);
});
