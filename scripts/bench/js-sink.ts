// Fallback sink (only when postfix's smtp-sink cannot be installed): smtp-server in its own process,
// printing smtp-sink's `-c` counter format so sink.ts reads both the same way. Being JavaScript, it
// can be slower than the clients it measures; the bench says so loudly when this one is used.
import { SMTPServer } from "smtp-server";

const port = Number(process.argv[2]);
let messages = 0;
const server = new SMTPServer({
  secure: false,
  disabledCommands: ["STARTTLS", "AUTH"],
  authOptional: true,
  logger: false,
  size: 64 * 1024 * 1024,
  onData(stream, _session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => {
      messages++;
      process.stdout.write(`sess=0 quit=0 mesg=${messages}\r`);
      callback();
    });
  },
});
server.on("error", (error) => process.stderr.write(`js-sink: ${error.message}\n`));
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
