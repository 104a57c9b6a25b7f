#include "chunkedframing.h"

#include "httptext.h"

namespace {

constexpr qsizetype kMaxSizeLine = 4096; // size and extensions

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool isBlank(char c)
{
    return c == ' ' || c == '\t';
}

// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
bool validExtensions(const char *p, const char *end)
{
    const auto skipBlanks = [&] {
        while (p < end && isBlank(*p))
            ++p;
    };
    const auto token = [&] {
        const char *start = p;
        while (p < end && isTokenChar(*p))
            ++p;
        return p > start;
    };
    for (;;) {
        skipBlanks();
        if (p == end)
            return true;
        if (*p++ != ';')
            return false;
        skipBlanks();
        if (!token())
            return false;
        skipBlanks();
        if (p == end || *p != '=')
            continue;
        ++p;
        skipBlanks();
        if (p < end && *p == '"') {
            ++p;
            for (;;) {
                if (p == end)
                    return false;
                const auto c = static_cast<unsigned char>(*p++);
                if (c == '"')
                    break;
                if (c == '\\') {
                    if (p == end)
                        return false;
                    const auto escaped = static_cast<unsigned char>(*p++);
                    if ((escaped < 0x20 && escaped != '\t') || escaped == 0x7f)
                        return false;
                } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                    return false;
                }
            }
        } else if (!token()) {
            return false;
        }
    }
}

} // namespace

ChunkedFraming::ChunkedFraming(qint64 maxBodyBytes)
    : m_maxBody(maxBodyBytes)
{
}

ChunkedFraming::State ChunkedFraming::fail(const QString &problem)
{
    m_problem = problem;
    m_state = State::Invalid;
    return m_state;
}

bool ChunkedFraming::sizeLine(const QByteArray &line)
{
    const char *p = line.constData();
    const char *end = p + line.size();
    qint64 size = 0;
    const char *digits = p;
    for (int digit; p < end && (digit = hexValue(*p)) >= 0; ++p) {
        size = size * 16 + digit;
        if (size > m_maxBody) { // also keeps the sum from overflowing
            m_state = State::TooLarge;
            return false;
        }
    }
    if (p == digits) {
        fail(QStringLiteral("A chunk must start with its size in hexadecimal digits."));
        return false;
    }
    if (!validExtensions(p, end)) {
        fail(QStringLiteral("A chunk size may only be followed by extensions (;name or ;name=value) before its CRLF."));
        return false;
    }
    m_total += size;
    if (m_total > m_maxBody) {
        m_state = State::TooLarge;
        return false;
    }
    m_remaining = size;
    m_last = size == 0;
    return true;
}

ChunkedFraming::State ChunkedFraming::feed(const char *data, qsizetype size)
{
    const char *p = data;
    const char *end = data + size;
    while (m_state == State::NeedMore && p < end) {
        switch (m_step) {
        case Step::SizeLine: {
            const char *newline = static_cast<const char *>(memchr(p, '\n', size_t(end - p)));
            const char *stop = newline ? newline : end;
            m_line.append(p, stop - p);
            p = stop;
            if (m_line.size() > kMaxSizeLine + 1)
                return fail(QStringLiteral("A chunk size line is over %1 bytes.").arg(kMaxSizeLine));
            if (!newline)
                break;
            ++p;
            if (!m_line.endsWith('\r'))
                return fail(QStringLiteral("A chunk size line must end with CRLF."));
            m_line.chop(1);
            if (!sizeLine(m_line))
                return m_state;
            m_line.clear();
            m_step = m_last ? Step::LastLineCr : (m_remaining > 0 ? Step::Data : Step::DataCr);
            break;
        }
        case Step::Data: {
            const qint64 take = qMin<qint64>(m_remaining, end - p);
            p += take;
            m_remaining -= take;
            if (m_remaining == 0)
                m_step = Step::DataCr;
            break;
        }
        case Step::DataCr:
            if (*p++ != '\r')
                return fail(QStringLiteral("A chunk's data must be followed by CRLF (it is longer than its size says)."));
            m_step = Step::DataLf;
            break;
        case Step::DataLf:
            if (*p++ != '\n')
                return fail(QStringLiteral("A chunk's data must be followed by CRLF."));
            m_step = Step::SizeLine;
            break;
        case Step::LastLineCr:
            if (*p != '\r') {
                if (*p == '\n')
                    return fail(QStringLiteral("A chunked body must end with an empty line (CRLF)."));
                return fail(QStringLiteral("Trailer fields are not accepted: end a chunked body with 0, CRLF, CRLF."));
            }
            ++p;
            m_step = Step::LastLineLf;
            break;
        case Step::LastLineLf:
            if (*p++ != '\n')
                return fail(QStringLiteral("A chunked body must end with an empty line (CRLF)."));
            m_state = State::Done;
            break;
        }
    }
    return m_state;
}
