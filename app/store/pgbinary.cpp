#include "pgbinary.h"

#include "storetext.h"

#include <QtEndian>
#include <cstring>

namespace PgBinary {

namespace {
constexpr qsizetype kArrayHeader = 20; // ndim, flags, element type, length, lower bound
void put32(char *at, quint32 v) { qToBigEndian(v, at); }
} // namespace

RecordArray::RecordArray(quint32 elementType, int fields)
    : m_elementType(elementType)
    , m_fields(fields)
{
    m_out.resize(1024);
    grow(kArrayHeader);
}

// m_out is the buffer, m_size how much of it is written.
char *RecordArray::grow(qsizetype bytes)
{
    const qsizetype at = m_size;
    if (m_out.size() < at + bytes)
        m_out.resize(2 * (at + bytes));
    m_size = at + bytes;
    return m_out.data() + at;
}

// Closes the current row: checks its field count and sets the element's length.
void RecordArray::endRow()
{
    if (m_rows == 0)
        return;
    Q_ASSERT_X(m_written == m_fields, "PgBinary::RecordArray", "a row's fields do not match its type");
    put32(m_out.data() + m_rowStart - 4, quint32(m_size - m_rowStart));
}

RecordArray &RecordArray::row()
{
    endRow();
    ++m_rows;
    m_written = 0;
    char *p = grow(8);
    put32(p, 0); // the element's length, set by endRow()
    put32(p + 4, quint32(m_fields));
    m_rowStart = m_size - 4;
    return *this;
}

void RecordArray::fieldHeader(quint32 type, qint32 size)
{
    ++m_written;
    char *p = grow(8);
    put32(p, type);
    put32(p + 4, quint32(size));
}

RecordArray &RecordArray::text(const QString &value)
{
    if (value.isNull()) {
        fieldHeader(Text, -1);
        return *this;
    }
    // Room for the longest encoding, then the field's length set to what was written.
    const qsizetype header = m_size;
    fieldHeader(Text, 0);
    char *out = grow(StoreText::utf8Room(value.size()));
    m_size = StoreText::writeUtf8(out, value) - m_out.constData();
    put32(m_out.data() + header + 4, quint32(m_size - header - 8));
    return *this;
}

RecordArray &RecordArray::bytes(quint32 type, const QByteArray &value)
{
    if (value.isNull()) {
        fieldHeader(type, -1);
        return *this;
    }
    fieldHeader(type, qint32(value.size()));
    std::memcpy(grow(value.size()), value.constData(), size_t(value.size()));
    return *this;
}

RecordArray &RecordArray::utf8Text(const QByteArray &utf8) { return bytes(Text, utf8); }

RecordArray &RecordArray::json(const QByteArray &utf8) { return bytes(Json, utf8); }

RecordArray &RecordArray::int8(qint64 value)
{
    fieldHeader(Int8, 8);
    qToBigEndian(value, grow(8));
    return *this;
}

RecordArray &RecordArray::int8(const std::optional<qint64> &value)
{
    if (!value) {
        fieldHeader(Int8, -1);
        return *this;
    }
    return int8(*value);
}

RecordArray &RecordArray::boolean(bool value)
{
    fieldHeader(Bool, 1);
    *grow(1) = value ? 1 : 0;
    return *this;
}

QByteArray RecordArray::finish()
{
    endRow();
    char *h = m_out.data();
    if (m_rows == 0) { // an empty array has no dimensions
        put32(h, 0);
        put32(h + 4, 0);
        put32(h + 8, m_elementType);
        m_size = 12;
    } else {
        put32(h, 1);
        put32(h + 4, 0); // no NULL elements
        put32(h + 8, m_elementType);
        put32(h + 12, quint32(m_rows));
        put32(h + 16, 1);
    }
    m_rows = 0;
    m_out.truncate(m_size);
    return std::move(m_out);
}

} // namespace PgBinary
