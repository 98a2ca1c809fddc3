// Rewrites mailer.toml.example from the key table in src/config/schema.ts.
import { writeFileSync } from "node:fs";
import { configExample } from "../src/config/example.ts";

writeFileSync("mailer.toml.example", configExample());
console.log("wrote mailer.toml.example");
