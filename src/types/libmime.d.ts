declare module "libmime" {
  const libmime: {
    decodeWords(text: string): string;
    encodeWords(text: string, mimeWordEncoding?: "Q" | "B", maxLength?: number): string;
    encodeWord(text: string, mimeWordEncoding?: "Q" | "B", maxLength?: number): string;
    foldLines(text: string, lineLength?: number, afterSpace?: boolean): string;
  };
  export default libmime;
}
