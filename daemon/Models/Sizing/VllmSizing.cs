namespace UnifiedLlm.Daemon.Models.Sizing;

/// <summary>vLLM launch flags for a memory budget on one GPU.</summary>
internal sealed record VllmLaunchSizing(double GpuMemoryUtilization, ulong MaxModelLen, string Explanation);

/// <summary>
/// Translates a byte budget into vLLM's <c>--gpu-memory-utilization</c> (a fraction of the GPU's total memory that vLLM
/// claims for itself) and <c>--max-model-len</c> (the context whose KV cache fits in what the weights and activations leave).
/// </summary>
internal static class VllmSizing
{
    /// <summary>vLLM allocates KV in blocks of 16 tokens.</summary>
    public const ulong BlockTokens = 16;

    /// <summary>Activation and CUDA-graph headroom vLLM needs beyond weights and KV (GPUStack's estimate uses 2 GiB).</summary>
    public const ulong DefaultActivationBytes = 2 * ByteFormat.GiB;

    /// <summary>The fraction, rounded down to 0.01 so the claim never exceeds the budget.</summary>
    public static double GpuMemoryUtilization(ulong budgetBytes, ulong totalBytes)
    {
        if (totalBytes == 0)
        {
            throw new ArgumentException("GPU total memory must be positive", nameof(totalBytes));
        }

        return Math.Floor(Math.Min(budgetBytes, totalBytes) * 100.0 / totalBytes) / 100.0;
    }

    /// <summary>Flags for the budget, or null (with <paramref name="reason"/>) when not even one KV block fits.</summary>
    public static VllmLaunchSizing? Plan(
        ulong budgetBytes,
        ulong totalBytes,
        ulong weightBytes,
        ulong kvBytesPerToken,
        ulong modelContextLength,
        ulong activationBytes,
        out string reason)
    {
        var utilization = GpuMemoryUtilization(budgetBytes, totalBytes);
        var claimed = (ulong)(utilization * totalBytes);
        var fixedBytes = weightBytes + activationBytes;
        if (claimed <= fixedBytes || kvBytesPerToken == 0)
        {
            reason = $"vLLM budget {ByteFormat.Format(claimed)} does not cover weights {ByteFormat.Format(weightBytes)} + activations {ByteFormat.Format(activationBytes)}";
            return null;
        }

        var tokens = (claimed - fixedBytes) / kvBytesPerToken / BlockTokens * BlockTokens;
        var maxModelLen = Math.Min(tokens, modelContextLength);
        if (maxModelLen == 0)
        {
            reason = $"vLLM budget leaves {ByteFormat.Format(claimed - fixedBytes)} for KV, less than one {BlockTokens}-token block";
            return null;
        }

        reason = string.Empty;
        var explanation = $"claim {utilization:0.00} x {ByteFormat.Format(totalBytes)} = {ByteFormat.Format(claimed)}: weights {ByteFormat.Format(weightBytes)}"
            + $" + activations {ByteFormat.Format(activationBytes)} + KV {maxModelLen} tokens x {ByteFormat.Format(kvBytesPerToken)}";
        return new VllmLaunchSizing(utilization, maxModelLen, explanation);
    }
}
