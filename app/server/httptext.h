#pragma once

#include <QByteArray>

#include <algorithm>

// Whether a header value is a plain decimal number: 1 to `maxDigits` ASCII
// digits, no sign, no spaces (Content-Length, Prefer: wait=N).
inline bool isDecimalNumber(const QByteArray &text, qsizetype maxDigits)
{
    return !text.isEmpty() && text.size() <= maxDigits
        && std::all_of(text.cbegin(), text.cend(), [](char c) { return c >= '0' && c <= '9'; });
}

// tchar of RFC 9110 5.6.2: the characters of a token (a header name, a chunk
// extension's name): letters, digits and !#$%&'*+-.^_`|~.
inline bool isTokenChar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

inline bool isToken(QByteArrayView text)
{
    return !text.isEmpty() && std::all_of(text.cbegin(), text.cend(), isTokenChar);
}

// Whether a header value holds a control character other than HTAB (NUL, a bare
// CR or LF, DEL ...), which RFC 9110 5.5 does not allow in a field value.
inline bool hasControlChar(const char *begin, const char *end)
{
    return std::any_of(begin, end, [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return (c < 0x20 && c != '\t') || c == 0x7f;
    });
}
