using System.Globalization;
using System.Text;

namespace UnifiedLlm.Daemon.Systemd.DBus;

/// <summary>
/// The client side of SASL <c>EXTERNAL</c>: a NUL byte, <c>AUTH EXTERNAL &lt;hex of the decimal uid&gt;</c> and
/// <c>BEGIN</c> in one write, then the server's <c>OK &lt;guid&gt;</c>. Unix fd passing is never negotiated.
/// </summary>
/// <remarks>
/// BEGIN goes with AUTH, before the OK, as sd-bus's own clients send it. Sent after the OK, it is followed at once by
/// the first message, and systemd (252, on its private socket) that reads both in one go finishes the handshake and
/// leaves the message in its buffer unanswered until the socket stirs again: the native ullmd, quick enough to hit that
/// every time, waited out its 5 s probe and fell back to plain processes. Pipelined, BEGIN is read with AUTH, and the
/// first message arrives after the OK, in a read of its own.
/// </remarks>
internal static class DBusAuthenticator
{
    /// <summary>Longest server line accepted; real servers send well under 100 bytes.</summary>
    private const int MaxLineBytes = 1024;

    /// <summary>Authenticates on <paramref name="stream"/> and returns the server's GUID.</summary>
    public static async Task<string> AuthenticateAsync(Stream stream, uint uid, CancellationToken cancellationToken)
    {
        var uidHex = Convert.ToHexStringLower(Encoding.ASCII.GetBytes(uid.ToString(CultureInfo.InvariantCulture)));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"\0AUTH EXTERNAL {uidHex}\r\nBEGIN\r\n"), cancellationToken);
        var line = await ReadLineAsync(stream, cancellationToken);
        var (command, argument) = SplitCommand(line);
        switch (command)
        {
            case "OK":
                if (!IsGuid(argument))
                {
                    throw new DBusConnectException($"authentication: server sent OK with a malformed GUID \"{argument}\"");
                }

                return argument;
            case "REJECTED":
                throw new DBusConnectException($"authentication rejected for uid {uid} with EXTERNAL (server accepts: {(argument.Length == 0 ? "nothing listed" : argument)})");
            case "ERROR":
                throw new DBusConnectException($"authentication: server reported an error: \"{argument}\"");
            default:
                throw new DBusConnectException($"authentication: unexpected server reply \"{line}\"");
        }
    }

    private static (string Command, string Argument) SplitCommand(string line)
    {
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (line, string.Empty) : (line[..space], line[(space + 1)..]);
    }

    private static bool IsGuid(string value) => value.Length == 32 && value.All(char.IsAsciiHexDigit);

    /// <summary>Reads one CRLF-terminated line byte by byte, so nothing after it (the first message) is consumed.</summary>
    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                throw new DBusConnectException("authentication: server closed the connection");
            }

            if (one[0] == '\n' && bytes.Count > 0 && bytes[^1] == '\r')
            {
                return Encoding.ASCII.GetString(bytes.ToArray(), 0, bytes.Count - 1);
            }

            if (bytes.Count >= MaxLineBytes)
            {
                throw new DBusConnectException($"authentication: server line longer than {MaxLineBytes} bytes");
            }

            bytes.Add(one[0]);
        }
    }
}
