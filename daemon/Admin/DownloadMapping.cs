using UnifiedLlm.Admin.V1;
using UnifiedLlm.Daemon.Backends;
using UnifiedLlm.Daemon.Models.Download;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>Download and Ollama pull progress to the admin API's <see cref="PullProgress"/>.</summary>
internal static class DownloadMapping
{
    public static PullProgress ToProto(DownloadProgress progress, string status) => new()
    {
        Model = progress.Model,
        Status = $"{status} {progress.Describe()}",
        File = progress.File,
        Part = (uint)progress.Part,
        Parts = (uint)progress.Parts,
        CompletedBytes = (ulong)progress.CompletedBytes,
        TotalBytes = (ulong)(progress.TotalBytes ?? 0),
        BytesPerSecond = progress.BytesPerSecond,
        EtaMs = (ulong)(progress.Eta?.TotalMilliseconds ?? 0),
    };

    public static PullProgress ToProto(string model, OllamaPullStatus status) => new()
    {
        Model = model,
        Status = status.Status,
        File = status.Digest ?? string.Empty,
        CompletedBytes = (ulong)Math.Max(0, status.Completed ?? 0),
        TotalBytes = (ulong)Math.Max(0, status.Total ?? 0),
        Done = status.Status == OllamaPullStatus.Success,
    };
}
