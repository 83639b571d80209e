namespace UnifiedLlm.Daemon.Config;

/// <summary>A one-line-per-change summary of what a reload changes, for the reply and the event log.</summary>
internal static class ConfigDiff
{
    public static IReadOnlyList<string> Describe(UllmConfig old, UllmConfig next)
    {
        var changes = new List<string>();
        Compare("model", old.Models, next.Models, changes);
        Compare("provider", old.Providers, next.Providers, changes);
        Compare("route", old.Routes, next.Routes, changes);
        Compare("peer", old.Peers, next.Peers, changes);
        Compare("rpc worker", old.RpcWorkers, next.RpcWorkers, changes);
        AddIfChanged("rpc_head settings changed", old.RpcHead, next.RpcHead, changes);
        AddIfChanged("rpc_worker changed: ggml-rpc-server keeps its old settings until ullmd restarts", old.RpcWorker, next.RpcWorker, changes);
        AddIfChanged("gpu settings changed", old.Gpu, next.Gpu, changes);
        AddIfChanged("backend settings changed", old.Backends, next.Backends, changes);
        AddIfChanged("scan directories changed", old.Scan, next.Scan, changes);
        AddIfChanged("security settings changed", old.Security, next.Security, changes);
        AddIfChanged("audit settings changed", old.Audit, next.Audit, changes);
        AddIfChanged("responses settings changed", old.Responses, next.Responses, changes);
        AddIfChanged("fallback chains changed", old.Router, next.Router, changes);

        if (old.Server.LogLevel != next.Server.LogLevel)
        {
            changes.Add($"log level {old.Server.LogLevel} -> {next.Server.LogLevel}");
        }

        return changes;
    }

    private static void Compare<T>(string what, IReadOnlyDictionary<string, T> old, IReadOnlyDictionary<string, T> next, List<string> changes)
    {
        foreach (var name in next.Keys.Except(old.Keys).Order(StringComparer.Ordinal))
        {
            changes.Add($"{what} '{name}' added");
        }

        foreach (var name in old.Keys.Except(next.Keys).Order(StringComparer.Ordinal))
        {
            changes.Add($"{what} '{name}' removed");
        }

        foreach (var name in old.Keys.Intersect(next.Keys).Order(StringComparer.Ordinal))
        {
            if (!ValueEquality.Equal(old[name], next[name]))
            {
                changes.Add($"{what} '{name}' changed");
            }
        }
    }

    private static void AddIfChanged<T>(string change, T old, T next, List<string> changes)
    {
        if (!ValueEquality.Equal(old, next))
        {
            changes.Add(change);
        }
    }
}
