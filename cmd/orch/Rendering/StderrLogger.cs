using Microsoft.Extensions.Logging;

namespace Orch.Cli.Rendering;

/// <summary>Warnings and errors from the libraries orch uses (a rejected bus message, say), one line each on stderr.</summary>
public sealed class StderrLogger : ILogger
{
    public static StderrLogger Instance { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (!IsEnabled(logLevel)) return;
        var level = logLevel == LogLevel.Warning ? "warning" : "error";
        Console.Error.WriteLine($"orch: {level}: {formatter(state, exception)}");
    }
}
