#pragma once

// PostgreSQL's binary wire format for the parameters the engine's batch commit
// sends (saga_commit_batch, resources/sql/postgres/005_binary_rows.sql): a
// one-dimensional array of records, the layout of array_send/record_send. The
// server only copies such fields (integers are 8 big-endian bytes, text its
// UTF-8 bytes after a length); nothing is escaped here or parsed there.

#include <QByteArray>
#include <QString>
#include <optional>

namespace PgBinary {

// pg_type OIDs of the built-in types used in the records (fixed in every
// PostgreSQL: src/include/catalog/pg_type.dat).
enum BuiltinType : quint32 { Bool = 16, Int8 = 20, Text = 25, Json = 114 };

// An array of records of the composite type `elementType` (its pg_type OID)
// that has `fields` fields. Call row(), then one writer per field in the type's
// order; finish() answers the array. The server matches fields by position and
// checks each one's type, so a record that does not match the type is refused
// with an error, never stored wrongly.
class RecordArray
{
public:
    RecordArray(quint32 elementType, int fields);

    RecordArray &row();
    RecordArray &text(const QString &value);      // a null QString is NULL
    RecordArray &utf8Text(const QByteArray &utf8); // text already UTF-8; null is NULL
    RecordArray &json(const QByteArray &utf8);     // text of a JSON value; null is NULL
    RecordArray &int8(qint64 value);
    RecordArray &int8(const std::optional<qint64> &value); // nullopt is NULL
    RecordArray &boolean(bool value);

    int rows() const { return m_rows; }
    QByteArray finish();

private:
    char *grow(qsizetype bytes); // appends `bytes` uninitialised bytes, answers where they start
    void fieldHeader(quint32 type, qint32 size);
    RecordArray &bytes(quint32 type, const QByteArray &value); // null is NULL
    void endRow();

    QByteArray m_out;
    qsizetype m_size = 0;
    quint32 m_elementType;
    int m_fields;
    int m_rows = 0;
    int m_written = 0;       // fields of the current row
    qsizetype m_rowStart = 0; // offset of the current row's record (its element length is the 4 bytes before)
};

} // namespace PgBinary
