using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;

using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Backends.Rpc;

/// <summary>
/// Asks a llama.cpp RPC worker (<c>ggml-rpc-server</c>) for its devices' memory over ggml's own RPC protocol, as
/// llama-server does before it places layers: HELLO, DEVICE_COUNT, then GET_DEVICE_MEMORY per device. A request is
/// one command byte, a little-endian u64 size and the payload; an answer is a u64 size and the payload. The worker
/// serves one client at a time, so a worker that accepts the connection but does not answer HELLO is serving someone
/// else (a head's loaded model).
/// </summary>
internal static class RpcProbe
{
    /// <summary>The protocol major version these messages are laid out for (ggml-rpc.h's RPC_PROTO_MAJOR_VERSION).</summary>
    public const byte ProtocolMajor = 7;

    private const byte CommandHello = 14;
    private const byte CommandDeviceCount = 15;
    private const byte CommandGetDeviceMemory = 11;
    private const int ConnectionCapsSize = 24;

    public static async Task<IReadOnlyList<RpcDeviceMemory>> ReadAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        using var client = new TcpClient { NoDelay = true };
        var stage = "connect";
        try
        {
            await client.ConnectAsync(host, port, limit.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            stage = "HELLO";
            var hello = await CallAsync(stream, CommandHello, new byte[ConnectionCapsSize], 4 + ConnectionCapsSize, limit.Token).ConfigureAwait(false);
            if (hello[0] != ProtocolMajor)
            {
                throw new RpcProbeException(
                    $"it speaks RPC protocol {hello[0]}.{hello[1]}.{hello[2]}; this ullmd reads version {ProtocolMajor}.x (llama.cpp versions differ)");
            }

            stage = "DEVICE_COUNT";
            var count = BinaryPrimitives.ReadUInt32LittleEndian(await CallAsync(stream, CommandDeviceCount, [], 4, limit.Token).ConfigureAwait(false));
            var devices = new List<RpcDeviceMemory>((int)Math.Min(count, 64));
            for (var device = 0u; device < count; device++)
            {
                stage = "GET_DEVICE_MEMORY";
                var request = new byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(request, device);
                var memory = await CallAsync(stream, CommandGetDeviceMemory, request, 16, limit.Token).ConfigureAwait(false);
                devices.Add(new RpcDeviceMemory(
                    (int)device, BinaryPrimitives.ReadUInt64LittleEndian(memory), BinaryPrimitives.ReadUInt64LittleEndian(memory.AsSpan(8))));
            }

            return devices;
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new RpcProbeException(stage == "connect"
                ? $"no connection within {Seconds(timeout)} s"
                : $"no answer to {stage} within {Seconds(timeout)} s (a worker serves one client at a time: a loaded model or another head may hold it)");
        }
        catch (SocketException e)
        {
            throw new RpcProbeException($"{stage}: {e.Message}");
        }
        catch (IOException e)
        {
            throw new RpcProbeException($"{stage}: the connection broke ({e.Message})");
        }
    }

    private static async Task<byte[]> CallAsync(NetworkStream stream, byte command, byte[] payload, int answerSize, CancellationToken cancellationToken)
    {
        var request = new byte[1 + 8 + payload.Length];
        request[0] = command;
        BinaryPrimitives.WriteUInt64LittleEndian(request.AsSpan(1), (ulong)payload.Length);
        payload.CopyTo(request, 9);
        await stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);

        var size = new byte[8];
        await ReadExactlyAsync(stream, size, cancellationToken).ConfigureAwait(false);
        var announced = BinaryPrimitives.ReadUInt64LittleEndian(size);
        if (announced != (ulong)answerSize)
        {
            throw new RpcProbeException($"it answered {announced.ToString(CultureInfo.InvariantCulture)} bytes where {answerSize.ToString(CultureInfo.InvariantCulture)} were expected: not a ggml RPC worker of protocol {ProtocolMajor}");
        }

        var answer = new byte[answerSize];
        await ReadExactlyAsync(stream, answer, cancellationToken).ConfigureAwait(false);
        return answer;
    }

    private static async Task ReadExactlyAsync(NetworkStream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            throw new RpcProbeException("it closed the connection without an answer");
        }
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
