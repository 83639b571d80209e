using System.CommandLine;
using System.Text;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class ReloadCommand
{
    public static Command Create() =>
        new Command("reload", "Re-read the config file; applied whole, or rejected with every error").WithAction(async (_, client, json, ct) =>
        {
            var response = await client.ReloadConfigAsync(new ReloadConfigRequest(), cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var text = new StringBuilder();
                if (response.Applied)
                {
                    text.Append(response.Changes.Count == 0 ? "reloaded: no changes\n" : "reloaded:\n");
                    foreach (var change in response.Changes)
                    {
                        text.Append($"  {change}\n");
                    }
                }
                else
                {
                    text.Append("rejected; the previous config stays in force:\n");
                    foreach (var e in response.Errors)
                    {
                        text.Append(e.Line > 0 ? $"  {e.File}:{e.Line}:{e.Column}: " : $"  {e.File}: ");
                        text.Append(e.KeyPath.Length > 0 ? $"{e.KeyPath}: {e.Message}\n" : $"{e.Message}\n");
                    }
                }

                return text.ToString();
            });
            return response.Applied ? CtlErrors.Ok : CtlErrors.Failed;
        });
}
