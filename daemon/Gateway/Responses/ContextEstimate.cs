using System.Text;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// How many tokens a chat conversation takes, estimated without the model's tokenizer: one token per 4 bytes of UTF-8
/// text (rounded up) in each message's content, tool call names and arguments, plus 4 per message for the chat
/// template's role markers. Images are not counted. Tokenizers of the llama family take about 4 bytes per token of
/// English text and fewer of code or other scripts, so the estimate errs low: a conversation it refuses does not fit,
/// and one near the limit that it lets through gets the backend's own context error.
/// </summary>
internal static class ContextEstimate
{
    public const int BytesPerToken = 4;
    public const int PerMessage = 4;

    public static long Tokens(JsonArray messages)
    {
        long bytes = 0;
        foreach (var message in messages)
        {
            bytes += Bytes(message?["content"]);
            foreach (var call in message?["tool_calls"]?.AsArray() ?? [])
            {
                bytes += Bytes(call?["function"]?["name"]) + Bytes(call?["function"]?["arguments"]);
            }
        }

        return ((bytes + BytesPerToken - 1) / BytesPerToken) + (PerMessage * (long)messages.Count);
    }

    private static long Bytes(JsonNode? node) => node switch
    {
        JsonArray parts => parts.Sum(p => Json.Text(p?["type"]) == "text" ? Bytes(p?["text"]) : 0),
        _ => Json.Text(node) is { } text ? Encoding.UTF8.GetByteCount(text) : 0,
    };
}
