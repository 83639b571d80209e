using System.Buffers.Binary;
using System.Security.Cryptography;

namespace UnifiedLlm.Daemon.Models;

/// <summary>
/// A model file's identity for measured footprints: SHA-256 over its size, first MiB and last MiB. It survives renames
/// and copies, changes when the file is replaced, and costs two reads instead of hashing gigabytes.
/// </summary>
internal static class ModelIdentity
{
    private const int Window = 1 << 20;

    public static async Task<string> ComputeAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var size = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(size, file.Length);
        hash.AppendData(size);
        var buffer = new byte[Window];
        hash.AppendData(buffer, 0, await ReadAtAsync(file, 0, buffer, cancellationToken));
        if (file.Length > Window)
        {
            hash.AppendData(buffer, 0, await ReadAtAsync(file, Math.Max(Window, file.Length - Window), buffer, cancellationToken));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    private static async Task<int> ReadAtAsync(FileStream file, long offset, byte[] buffer, CancellationToken cancellationToken)
    {
        file.Position = offset;
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await file.ReadAsync(buffer.AsMemory(total), cancellationToken)) > 0)
        {
            total += read;
        }

        return total;
    }
}
