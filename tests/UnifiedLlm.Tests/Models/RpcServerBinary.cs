namespace UnifiedLlm.Tests.Models;

/// <summary>
/// llama.cpp's RPC worker, ggml-rpc-server, beside the llama-server the tests use (tests/tools/llama-server.sh builds
/// both); without it the RPC tests skip and say why.
/// </summary>
internal static class RpcServerBinary
{
    /// <summary>The path, or null with the reason a test prints when it skips.</summary>
    public static (string? Path, string Reason) Find()
    {
        if (LlamaServerBinary.Find() is not { } llamaServer)
        {
            return (null, LlamaServerBinary.HowToGet);
        }

        var real = new FileInfo(llamaServer).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(llamaServer);
        var rpc = Path.Combine(Path.GetDirectoryName(real)!, "ggml-rpc-server");
        return File.Exists(rpc)
            ? (rpc, string.Empty)
            : (null, $"no ggml-rpc-server beside {real}: that llama.cpp was built without -DGGML_RPC=ON; unset ULLM_LLAMA_SERVER to use tests/tools/llama-server.sh's build, which has it");
    }
}
