namespace UnifiedLlm.Daemon.Gpu;

/// <summary>An NVML call returned an error; carries the code, the exported function called, and NVML's own message.</summary>
internal sealed class NvmlException : Exception
{
    public NvmlException(NvmlReturn code, string function, string nvmlMessage, int? gpuIndex)
        : base(Describe(code, function, nvmlMessage, gpuIndex))
    {
        Code = code;
        Function = function;
        NvmlMessage = nvmlMessage;
        GpuIndex = gpuIndex;
    }

    public NvmlReturn Code { get; }

    public string Function { get; }

    public string NvmlMessage { get; }

    public int? GpuIndex { get; }

    private static string Describe(NvmlReturn code, string function, string nvmlMessage, int? gpuIndex)
    {
        var where = gpuIndex is { } index ? $" on GPU {index}" : "";
        return $"{function} failed{where}: {nvmlMessage} (NVML return code {(int)code}, {code})";
    }
}
