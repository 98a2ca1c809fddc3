// Which database failures an enqueue path reports as "try again later" (exit 75, SMTP 451).
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { classifyDatabaseError } from "../../src/db/connect.ts";
import { TempFailError } from "../../src/errors.ts";
import { openQueue } from "../../src/index.ts";
import { tempDir } from "../helpers/db.ts";

test("a read-only SQLite database is a temporary failure (75), not a crash", async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, "q.db");
    await (await openQueue({ url: `sqlite:${path}` })).close();
    const readonly = new Database(path, { readonly: true });
    let error: unknown;
    try {
      readonly.run("insert into mailer_dontsendentry (to_address) values ('x@example.com')");
    } catch (e) {
      error = e;
    } finally {
      readonly.close();
    }
    expect(classifyDatabaseError(error, "sqlite:q.db")).toBeInstanceOf(TempFailError);
  } finally {
    dir.cleanup();
  }
});

test("an SQLite path whose directory does not exist is a temporary failure at open", async () => {
  const dir = tempDir();
  try {
    await expect(openQueue({ url: `sqlite:${join(dir.path, "missing", "q.db")}` })).rejects.toBeInstanceOf(TempFailError);
  } finally {
    dir.cleanup();
  }
});
