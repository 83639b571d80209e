using System.Globalization;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Backends.Rpc;

/// <summary>
/// ggml-rpc-server's argv for [rpc_worker], in the pinned llama.cpp's flags: <c>-H</c> host, <c>-p</c> port,
/// <c>-d</c> comma-separated devices, <c>-t</c> CPU threads, <c>-c</c> a tensor cache on disk (under
/// <c>$LLAMA_CACHE/rpc/</c>).
/// </summary>
internal static class RpcWorkerArguments
{
    public static IReadOnlyList<string> Build(RpcWorkerRoleConfig worker)
    {
        var args = new List<string> { "-H", worker.ListenHost, "-p", worker.ListenPort.ToString(CultureInfo.InvariantCulture) };
        if (worker.Devices.Count > 0)
        {
            args.AddRange(["-d", string.Join(",", worker.Devices)]);
        }

        if (worker.Threads is { } threads)
        {
            args.AddRange(["-t", threads.ToString(CultureInfo.InvariantCulture)]);
        }

        if (worker.Cache)
        {
            args.Add("-c");
        }

        return args;
    }
}
