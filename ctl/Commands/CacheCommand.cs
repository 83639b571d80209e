using System.CommandLine;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl.Output;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>ullmctl cache stats|clear [--model M]: the response cache of the models and routes that have one.</summary>
internal static class CacheCommand
{
    public static Command Create()
    {
        var statsModel = ModelOption();
        var stats = new Command("stats", "Entries, bytes, limits, and hits, misses and bypasses since ullmd started") { statsModel };
        stats.WithAction(async (parse, client, json, ct) =>
        {
            var response = await client.CacheStatsAsync(new CacheStatsRequest { Model = parse.GetValue(statsModel) ?? "" }, cancellationToken: ct);
            Printer.Write(json, response, () =>
            {
                var table = new Table("MODEL", "ENTRIES", "BYTES", "MAX ENTRIES", "MAX BYTES", "TTL", "HITS", "MISSES", "BYPASSES", "OPTIONS");
                foreach (var m in response.Models)
                {
                    var options = new[] { (m.Shared, "shared"), (m.Coalesce, "coalesce"), (m.CacheSampled, "cache_sampled"), (m.Persist, "persist") }
                        .Where(o => o.Item1).Select(o => o.Item2).ToList();
                    table.Add(m.Model, m.Entries, m.Bytes, m.MaxEntries, m.MaxBytes, $"{m.TtlSeconds}s", m.Hits, m.Misses, m.Bypasses,
                        options.Count == 0 ? "-" : string.Join(',', options));
                }

                return table.Count == 0 ? "no model or route has a response cache (cache = { … } in the config)\n" : table.Render();
            });
            return CtlErrors.Ok;
        });

        var clearModel = ModelOption();
        var clear = new Command("clear", "Drop cached answers (persisted ones too)") { clearModel };
        clear.WithAction(async (parse, client, json, ct) =>
        {
            var response = await client.ClearCacheAsync(new ClearCacheRequest { Model = parse.GetValue(clearModel) ?? "" }, cancellationToken: ct);
            Printer.Write(json, response, () =>
                $"cleared {response.Entries} entr{(response.Entries == 1 ? "y" : "ies")} ({response.Bytes} bytes) of {(response.Models.Count == 0 ? "no cache" : string.Join(", ", response.Models))}\n");
            return CtlErrors.Ok;
        });

        return new Command("cache", "The exact-match response cache") { stats, clear };
    }

    private static Option<string> ModelOption() => new("--model") { Description = "A model, alias or route (default: every one with a cache)" };
}
