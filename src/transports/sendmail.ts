// The local sendmail program (nodemailer's sendmail transport): `path -i -f FROM -- TO…`, text on stdin.
import type { Config } from "../config/types.ts";
import { fromNodemailer } from "./nodemailer-adapter.ts";
import type { Transport } from "./types.ts";

export async function sendmailTransport(config: Config): Promise<Transport> {
  const nodemailer = await import("nodemailer");
  const transporter = nodemailer.createTransport({ sendmail: true, path: config.backend.path });
  return fromNodemailer("sendmail", transporter as never);
}
