using Npgsql;
using PgMultiMaster.Failures;
using PgMultiMaster.Diagnostics;

namespace PgMultiMaster.Tests.Diagnostics;

public sealed class ErrorTextTests
{
    private static PostgresException Error(string sqlState, string message, string? detail = null) =>
        new(message, "ERROR", "ERROR", sqlState, detail: detail);

    [Fact]
    public void A_data_error_is_told_by_its_sqlstate_and_condition_without_the_value_or_the_detail()
    {
        var e = Error("22P02", "invalid input syntax for type integer: \"abc-secret\"", "Key (id)=(5) already exists.");

        var text = ErrorText.Of(e);

        Assert.Equal("22P02 (invalid_text_representation)", text);
        Assert.DoesNotContain("abc-secret", text);
        Assert.DoesNotContain("(5)", text);
    }

    [Theory]
    [InlineData("22003", "value \"99999999999\" is out of range for type integer", "22003 (numeric_value_out_of_range)")]
    [InlineData("P0001", "account 42 of alice is overdrawn", "P0001 (raise_exception)")]
    [InlineData("P0004", "balance 12 < 0", "P0004 (assert_failure)")]
    [InlineData("2F005", "control reached end of function without RETURN for 42", "2F005 (function_executed_no_return_statement_sql_routine_exception)")]
    [InlineData("38000", "secret", "38000 (external_routine_exception)")]
    [InlineData("39000", "secret", "39000 (external_routine_invocation_exception)")]
    [InlineData("XX000", "secret", "XX000 (internal_error)")]
    // A SQLSTATE PostgreSQL does not define came from RAISE … USING ERRCODE in someone's function.
    [InlineData("U0001", "secret", "U0001")]
    public void Classes_whose_messages_quote_values_show_no_message(string sqlState, string message, string expected) =>
        Assert.Equal(expected, ErrorText.Of(Error(sqlState, message)));

    [Fact]
    public void Other_errors_keep_their_message_but_never_the_detail()
    {
        var e = Error("23505", "duplicate key value violates unique constraint \"items_pkey\"", "Key (id)=(5) already exists.");
        Assert.Equal("23505: duplicate key value violates unique constraint \"items_pkey\"", ErrorText.Of(e));
        Assert.Equal("28P01: password authentication failed for user \"pgmm\"",
            ErrorText.Of(Error("28P01", "password authentication failed for user \"pgmm\"")));
    }

    [Fact]
    public void A_wrapper_is_told_by_the_postgresql_error_inside_it()
    {
        var error = Error("22P02", "invalid input syntax for type integer: \"abc-secret\"");
        // Their own messages quote the inner one.
        Assert.Equal("22P02 (invalid_text_representation)", ErrorText.Of(new ApplyDataException(1, 1, error)));
        Assert.Equal("22P02 (invalid_text_representation)", ErrorText.Of(new InvalidOperationException("replaying: " + error.Message,
            new OptimisticBatchException(1, error))));
    }

    [Fact]
    public void Other_exceptions_are_told_by_their_message() =>
        Assert.Equal("Failed to connect to 127.0.0.1:1", ErrorText.Of(new NpgsqlException("Failed to connect to 127.0.0.1:1")));

    [Theory]
    // The dead-letter reason of a refused change, and its last_error (Npgsql's message, the Detail after a blank line).
    [InlineData("22P02: invalid input syntax for type integer: \"abc-secret\"", "22P02 (invalid_text_representation)")]
    [InlineData("22P02: invalid input syntax for type integer: \"abc-secret\"\n\nDETAIL: x", "22P02 (invalid_text_representation)")]
    [InlineData("23505: duplicate key value violates unique constraint \"t_pkey\"\n\nDETAIL: Key (id)=(5) already exists.",
        "23505: duplicate key value violates unique constraint \"t_pkey\"")]
    // Texts of PgMultiMaster's own, and texts already safe, are left as they are.
    [InlineData("update_origin_differs: parked by rule DeadLetter", "update_origin_differs: parked by rule DeadLetter")]
    [InlineData("22P02 (invalid_text_representation)", "22P02 (invalid_text_representation)")]
    [InlineData("table public.items lacks column(s) \"extra\"", "table public.items lacks column(s) \"extra\"")]
    public void Stored_texts_are_redacted_the_same_way(string stored, string expected) =>
        Assert.Equal(expected, ErrorText.Redact(stored));

    [Fact]
    public void No_text_stays_none() => Assert.Null(ErrorText.Redact(null));
}
