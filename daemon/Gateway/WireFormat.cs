namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// The format an upstream answers in: OpenAI's chat completion (completion, embedding) objects and chunks ending with
/// [DONE], or the Responses API's response objects and events, whose stream ends with its response.completed event.
/// </summary>
internal enum WireFormat
{
    OpenAi,
    Responses,
}
