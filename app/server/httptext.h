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
