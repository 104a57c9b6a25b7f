#pragma once

#include <QByteArray>
#include <QString>

// Checks the framing of a chunked request body (RFC 9112 7.1) as its bytes
// arrive, before QHttpServer parses them: each chunk is a hex size, optional
// extensions (";name" or ";name=token" / ";name=\"quoted\""), CRLF, that many
// bytes, CRLF; the body ends with a zero-size chunk and an empty line. A size
// that is not hex, a line not ended by CRLF, data not followed by CRLF, or
// trailer fields (Qt 6.4 merges them into the request's headers, and reads a
// message that has them as ending early) are refused: Qt 6.4 would run the
// request with what it got and take the rest for a request of its own.
class ChunkedFraming
{
public:
    enum class State {
        NeedMore, // the body goes on
        Done,     // the body ended; bytes after it belong to the next request
        Invalid,  // bad framing: problem() says what
        TooLarge, // the chunks add up to more than the body limit
    };

    explicit ChunkedFraming(qint64 maxBodyBytes);

    // Takes the next bytes of the body. Once the state is not NeedMore, later
    // calls change nothing.
    State feed(const char *data, qsizetype size);
    State state() const { return m_state; }
    // A sentence for the 400 answer (Invalid).
    const QString &problem() const { return m_problem; }

private:
    enum class Step { SizeLine, Data, DataCr, DataLf, LastLineCr, LastLineLf };
    bool sizeLine(const QByteArray &line); // false after fail()/TooLarge
    State fail(const QString &problem);

    qint64 m_maxBody;
    qint64 m_total = 0;     // sum of the chunk sizes so far
    qint64 m_remaining = 0; // data bytes left in the current chunk
    bool m_last = false;    // the zero-size chunk was seen
    Step m_step = Step::SizeLine;
    State m_state = State::NeedMore;
    QByteArray m_line; // the size line so far (without its CRLF)
    QString m_problem;
};
