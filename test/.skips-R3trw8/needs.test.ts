import { testIf } from "/work/main/test/helpers/dialects.ts";
testIf(false, "a tmpfs mount is not permitted")("needs a tmpfs", () => {});
testIf(true, "never")("runs here", () => {});
