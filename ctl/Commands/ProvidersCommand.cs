using System.CommandLine;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class ProvidersCommand
{
    public static Command Create() =>
        new Command("providers", "Cloud providers: models, key source, breaker state, latency").WithAction(async (_, client, json, ct) =>
        {
            var response = await client.ListProvidersAsync(new ListProvidersRequest(), cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var table = new Table("NAME", "KIND", "BASE URL", "MODELS", "KEY", "BREAKER", "TTFT", "REQUESTS", "FAILURES");
                foreach (var p in response.Providers)
                {
                    table.Add(p.Name, p.Kind, p.BaseUrl, string.Join(',', p.Models), $"{p.KeySource} ({(p.KeyPresent ? "present" : "MISSING")})",
                        p.Breaker?.State ?? "-", p.TtftEwmaMs > 0 ? $"{p.TtftEwmaMs:0}ms" : "-", p.Requests, p.Failures);
                }

                return table.Count == 0 ? "no providers configured\n" : table.Render();
            });
            return CtlErrors.Ok;
        });
}
