// The npm package age-encryption (by the age authors) as a second implementation of age's
// post-quantum hybrid keys, for sops-cli/tests/age_complete.rs. NODE_PATH must hold it.
//   keygen                 prints a new AGE-SECRET-KEY-PQ-1 identity and its age1pq1 recipient
//   encrypt RECIPIENT      armored age file of stdin on stdout
//   decrypt IDENTITY       plaintext of the armored age file on stdin (hex)
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH + "/");
const age = await import(require.resolve("age-encryption"));
const chunks = [];
const [cmd, arg] = process.argv.slice(2);
if (cmd === "keygen") {
  const id = await age.generateHybridIdentity();
  console.log(id);
  console.log(await age.identityToRecipient(id));
} else {
  for await (const c of process.stdin) chunks.push(c);
  const input = Buffer.concat(chunks);
  if (cmd === "encrypt") {
    const e = new age.Encrypter();
    e.addRecipient(arg);
    const out = await e.encrypt(new Uint8Array(input));
    process.stdout.write(age.armor.encode(out));
  } else if (cmd === "decrypt") {
    const d = new age.Decrypter();
    d.addIdentity(arg);
    const out = await d.decrypt(age.armor.decode(input.toString()));
    process.stdout.write(Buffer.from(out).toString("hex") + "\n");
  } else {
    throw new Error("unknown command " + cmd);
  }
}
