-- The sample every new PostgreSQL sandbox starts from: the two lessons' tables.
-- Lesson 1 ("Session in the ORM"): quoted, capitalised names, as in the lesson.
CREATE TABLE "Users" (
    "Id" SERIAL PRIMARY KEY,
    "Name" TEXT NOT NULL,
    "Age" INTEGER
);
INSERT INTO "Users" ("Name", "Age") VALUES ('Петр', 20), ('Василий', 26);

-- Lesson 2 (the SQLAlchemy tutorial): the rows the tutorial has inserted by the time it reaches the ORM Session.
CREATE TABLE some_table (x INTEGER, y INTEGER);
INSERT INTO some_table (x, y) VALUES (1, 1), (2, 4), (6, 8), (9, 10), (11, 12), (13, 14);
