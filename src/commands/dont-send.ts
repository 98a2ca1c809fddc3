import { notBuilt } from "./not-built.ts";

export async function run(): Promise<number> {
  notBuilt("dont-send");
}
