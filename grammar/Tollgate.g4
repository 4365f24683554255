// The tollgate policy language.
//
// One combined grammar. Code is generated at build time by Debian's `antlr4`
// tool into namespace tollgate::internal::antlr and included by exactly one
// translation unit (engine/parse/parse.cc), which turns the parse tree into
// the AST of engine/ast/ast.h. Comments go to a hidden channel so that
// `tollgate fmt` can keep them. The language is newline-insensitive: every
// clause starts with a keyword.
grammar Tollgate;

@parser::members {
  // `max_price WORD EXPR`: the next IDENT is the price kind when it is one of
  // the kind words, or when a number follows it (`max_price promt 1 usd`, so
  // that the checker can suggest the right word). Otherwise it starts the
  // amount: `max_price ceilings["standard"]`, `max_price cap`.
  bool PriceWordAhead() {
    antlr4::Token* t = _input->LT(1);
    if (t->getType() != IDENT) return false;
    const std::string w = t->getText();
    if (w == "prompt" || w == "completion" || w == "request") return true;
    size_t next = _input->LA(2);
    return next == INT || next == DECIMAL;
  }
}

policy      : header decl* EOF ;
// `retain content full|hash|none` (docs/audit.md): only `retain` is a
// keyword, so that `content` and `hash` stay plain names; the two words are
// checked in build_ast.inc. `schema "ext.json"`: a schema extension this
// policy needs (relative to the file).
header      : 'policy' STRING retainClause? schemaClause* ;
retainClause: 'retain' IDENT IDENT ;
schemaClause: 'schema' STRING ;

decl        : constDecl | letDecl | dataDecl | ruleDecl | budgetDecl | limitDecl
            | fixtureDecl | testDecl ;

constDecl   : 'const' IDENT (':' typeExpr)? '=' expr ;
// A named condition (or any expression) over request fields, used by name.
letDecl     : 'let' IDENT '=' expr ;
dataDecl    : 'data' IDENT 'from' STRING ':' typeExpr ;

typeExpr    : IDENT                                       # namedType
            | IDENT '<' typeExpr (',' typeExpr)? '>' # genericType
            | '{' (fieldType (',' fieldType)* ','?)? '}'  # recordType
            ;
fieldType   : name opt='?'? ':' typeExpr ;

ruleDecl    : 'rule' IDENT ruleOption* '{' whenClause? effect+ '}' ;
// `mode shadow when C`: shadow (or advisory) for requests where C holds,
// enforced for the others -- one rule, its mode chosen per request.
ruleOption  : 'mode' m=('enforce' | 'shadow' | 'advisory') ('when' expr)? # modeOption
            | 'on_error' act=('deny' | 'skip')                 # onErrorOption
            ;
whenClause  : 'when' expr ;

effect      : 'deny' INT? STRING                    # denyEffect
            | 'require' expr                        # requireEffect
            | 'redact' expr 'as' STRING             # redactEffect
            | 'route' routeHint (',' routeHint)*    # routeEffect
            | 'tag' IDENT '=' expr                  # tagEffect
            | 'warn' STRING                         # warnEffect
            ;
routeHint   : 'sort' IDENT                          # sortHint
            | 'max_price' ({PriceWordAhead()}? IDENT)? expr  # maxPriceHint
            | 'order' expr                          # orderHint
            ;

// A budget or limit applies to the requests its optional `when` holds for;
// its limit / max may be computed per request (e.g. from a data document).
budgetDecl  : 'budget' IDENT '{' whenClause? 'key' keyExpr 'per' window 'limit' expr '}' ;
limitDecl   : 'limit' IDENT '{' whenClause? 'key' keyExpr 'per' window 'max' expr unit=IDENT '}' ;
// A composite key is a tuple of strings: `key (principal.user, request.model)`.
keyExpr     : '(' expr (',' expr)+ ')'             # tupleKey
            | expr                                 # singleKey
            ;
window      : IDENT | DURATION ;

// A named set of `given` bindings that tests (and other fixtures) extend.
fixtureDecl : 'fixture' IDENT ('from' base=IDENT)? '{' (binding (',' binding)* ','?)? '}' ;
testDecl    : 'test' STRING '{' givenClause candidateClause? expectClause+ '}' ;
givenClause : 'given' IDENT? '{' (binding (',' binding)* ','?)? '}' ;
candidateClause : 'candidate' '{' (binding (',' binding)* ','?)? '}' ;
binding     : path ':' expr ;
path        : name ('.' name)* ;
expectClause
            : 'expect' 'allow'                                  # expectAllow
            | 'expect' 'deny' INT?                              # expectDeny
            // `expect shadow fired|rejected_by|redacts`: what a rule in shadow
            // mode would have done (the plain forms judge what is enforced)
            | 'expect' sh='shadow'? 'fired' IDENT (',' IDENT)*  # expectFired
            | 'expect' 'not_fired' IDENT (',' IDENT)*           # expectNotFired
            | 'expect' sh='shadow'? 'rejected_by' IDENT (',' IDENT)* # expectRejectedBy
            | 'expect' 'accepted'                               # expectAccepted
            | 'expect' sh='shadow'? 'redacts' STRING            # expectRedacts
            | 'expect' 'tag' IDENT '=' expr                     # expectTag
            | 'expect' 'route' routeHint                        # expectRoute
            | 'expect' 'warns'                                  # expectWarns
            // code "c" | reason ["contains"] "r" | redacted ["contains"] "t" | no_errors
            | 'expect' word=IDENT sub='contains'? STRING?       # expectWord
            ;

// Expressions, loosest binding first. Quantifier bodies extend as far right
// as possible, like a lambda: wrap them in parentheses inside larger terms.
expr        : quant=('any' | 'all') IDENT 'in' orExpr ':' expr   # quantExpr
            | orExpr                                             # plainExpr
            ;
orExpr      : andExpr ('or' andExpr)* ;
andExpr     : notExpr ('and' notExpr)* ;
notExpr     : 'not' notExpr | cmpExpr ;
cmpExpr     : coalesceExpr (cmpOp coalesceExpr)? ;
// `x ?? d`: x, or d when x is absent (null). Binds tighter than comparisons,
// looser than arithmetic: `request.max_tokens ?? 0 > 4096`.
coalesceExpr: addExpr ('??' addExpr)* ;
cmpOp       : '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not' 'in'
            | 'matches' | 'contains' | 'has' | 'starts_with' | 'ends_with' ;
addExpr     : mulExpr (op+=('+' | '-') mulExpr)* ;
mulExpr     : unaryExpr (op+=('*' | '/' | '%') unaryExpr)* ;
unaryExpr   : '-' unaryExpr | postfixExpr ;
postfixExpr : primary postfix* ;
postfix     : '.' name                        # memberPostfix
            | '[' expr ']'                    # indexPostfix
            | '(' (expr (',' expr)*)? ')'     # callPostfix
            ;
// `max`, `contains`, `starts_with` and `ends_with` are keywords elsewhere but
// also builtin functions; `budget` and `limit` are the roots of the counters
// rules read (`budget.ws_daily.remaining`, `limit.user_rpm.used`).
primary     : literal                                         # literalPrimary
            | id=(IDENT | 'max' | 'contains' | 'starts_with' | 'ends_with' | 'budget' | 'limit')  # namePrimary
            | '(' expr ')'                                    # parenPrimary
            | '[' (expr (',' expr)* ','?)? ']'                # listPrimary
            | '{' (expr (',' expr)* ','?)? '}'                # setPrimary
            | '{' mapEntry (',' mapEntry)* ','? '}'           # mapPrimary
            ;
mapEntry    : (STRING | name) ':' expr ;
literal     : 'true' | 'false' | 'null'
            | INT | DECIMAL | money | DURATION | STRING ;
money       : (INT | DECIMAL) 'usd' ;

// Any word, keywords included, where only a name can stand (after '.', as a
// record field or map key): keywords stay usable as field names.
name        : IDENT | 'accepted' | 'advisory' | 'all' | 'allow' | 'and' | 'any' | 'as'
            | 'budget' | 'candidate' | 'const' | 'contains' | 'data' | 'deny'
            | 'enforce' | 'expect' | 'false' | 'fired' | 'fixture' | 'from' | 'given'
            | 'has' | 'in' | 'key' | 'let' | 'limit' | 'matches' | 'max' | 'max_price'
            | 'mode' | 'not' | 'not_fired' | 'null' | 'on_error' | 'or'
            | 'order' | 'per' | 'policy' | 'redact' | 'redacts' | 'rejected_by'
            | 'require' | 'retain' | 'route' | 'rule' | 'schema' | 'shadow' | 'skip' | 'sort'
            | 'tag' | 'test' | 'true' | 'usd' | 'warn' | 'warns' | 'when'
            | 'starts_with' | 'ends_with' ;

INT         : [0-9]+ ;
DECIMAL     : [0-9]+ '.' [0-9]+ ;
DURATION    : [0-9]+ ('ms' | 's' | 'm' | 'h' | 'd' | 'w') ;
// Escapes (\" \\ \/ \n \r \t \uXXXX) are validated when the AST is built, so
// that a bad escape is reported precisely instead of breaking the token.
STRING      : '"' ( '\\' ~[\r\n] | ~["\\\r\n] )* '"' ;
// A string missing its closing quote: reported as "unterminated string".
// Never longer than a terminated STRING, so the longest match prefers STRING.
UNTERMINATED_STRING : '"' ( '\\' ~[\r\n] | ~["\\\r\n] )* ;
IDENT       : [a-zA-Z_] [a-zA-Z0-9_]* ;

LINE_COMMENT : ('#' | '//') ~[\r\n]* -> channel(HIDDEN) ;
BLOCK_COMMENT: '/*' .*? '*/' -> channel(HIDDEN) ;
// A block comment that never ends (shorter than BLOCK_COMMENT when one does).
UNTERMINATED_COMMENT : '/*' ( ~'*' | '*'+ ~[*/] )* '*'* EOF ;
// A UTF-8 byte order mark (U+FEFF) counts as white space.
WS           : [ \t\r\n\uFEFF]+ -> skip ;
// Anything else is one bad character. parse.cc reports ERROR_CHAR and the
// UNTERMINATED_* tokens before parsing and hides them from the parser.
ERROR_CHAR   : . ;
