using System.CommandLine;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class ScanCommand
{
    public static Command Create() =>
        new Command("scan", "Rescan the model directories and configured model files (changed files by size and mtime)").WithAction(async (_, client, json, ct) =>
        {
            var response = await client.ScanModelsAsync(new ScanModelsRequest(), cancellationToken: ct);
            Printer.Write(json, response, () => Render(response));
            return CtlErrors.Ok;
        });

    public static string Render(ScanModelsResponse r)
    {
        var text = new StringBuilder(
            $"{r.FilesSeen} model file(s): {r.Added} added, {r.Updated} updated, {r.Unchanged} unchanged, {r.Removed} removed, {r.Errors.Count} error(s)\n");
        if (r.Errors.Count > 0)
        {
            text.Append("\ncannot be used:\n");
            foreach (var e in r.Errors)
            {
                // Reader errors start with the file name already.
                text.Append("  ").Append(e.Message.StartsWith(e.Path, StringComparison.Ordinal) ? e.Message : $"{e.Path}: {e.Message}").Append('\n');
            }
        }

        return text.ToString();
    }
}
