using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

internal static class AuditCommand
{
    public static Command Create()
    {
        var since = new Option<string?>("--since") { Description = "Only requests since this time (local unless it has an offset) or this long ago, e.g. 2026-11-24T10:00Z, '2026-11-24 10:00', 15m, 2h, 7d" };
        var model = new Option<string?>("--model") { Description = "Only requests for this model" };
        var key = new Option<string?>("--key") { Description = "Only requests made with this key id" };
        var limit = new Option<uint>("--limit") { Description = "At most this many rows (default 100, max 10000)", DefaultValueFactory = _ => 100 };
        var command = new Command("audit", "Recent requests from the audit log, newest first") { since, model, key, limit };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var request = new QueryAuditRequest { Model = parse.GetValue(model) ?? "", KeyId = parse.GetValue(key) ?? "", Limit = parse.GetValue(limit) };
            if (parse.GetValue(since) is { } sinceText)
            {
                if (!TimeArgument.TryParseTimeOrAgo(sinceText, DateTimeOffset.UtcNow, out var t))
                {
                    return CtlErrors.Fail(
                        json, CtlErrors.Usage, Grpc.Core.StatusCode.InvalidArgument, $"--since '{sinceText}' is neither a time (2026-11-24T10:00Z) nor a duration ago (15m, 2h, 7d)");
                }

                request.Since = Timestamp.FromDateTimeOffset(t);
            }

            var response = await client.QueryAuditAsync(request, cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var table = new Table("TIME", "REQUEST", "KEY", "MODEL", "TARGET", "STATUS", "TOKENS", "TTFT", "LATENCY", "COST");
                foreach (var r in response.Records)
                {
                    table.Add(Printer.Time(r.Time), r.RequestId, r.KeyId.Length == 0 ? "-" : r.KeyId, r.ModelRequested,
                        r.Cache == "hit" ? "(cache hit)" : r.Target, r.HttpStatus,
                        $"{r.PromptTokens}+{r.CompletionTokens}{(r.TokensEstimated ? "~" : "")}", $"{r.TtftMs}ms", $"{r.LatencyMs}ms", $"{r.Cost:0.######}");
                }

                return table.Count == 0 ? "no audit records match\n" : table.Render();
            });
            return CtlErrors.Ok;
        });
    }
}
