// Starts `esms-rules lsp` (the language server of esms-rules, over stdio) for .esms files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("esms-rules").get("command");
  client = new LanguageClient(
    "esms-rules", "esms-rules",
    { command, args },                                   // stdio transport
    { documentSelector: [{ language: "esms" }] });
  client.start();
  context.subscriptions.push(client);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
